package registry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RetryPolicy bounds the retries of transient failures.
type RetryPolicy struct {
	// Attempts is the number of tries in all (1 means no retry); 0 means 5.
	Attempts int
	// Base is the wait before the second try, doubled each time, with ±25 %
	// jitter; 0 means 200 ms.
	Base time.Duration
	// Max caps one wait, Retry-After included; 0 means 10 s.
	Max time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Base <= 0 {
		p.Base = 200 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 10 * time.Second
	}
	return p
}

// delay is the wait after failed attempt n (1-based), before jitter.
func (p RetryPolicy) delay(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + rand.N(d/2+1)
}

// retryTransport retries transient failures of requests it can repeat.
type retryTransport struct {
	inner  http.RoundTripper
	policy RetryPolicy
}

// retryable reports whether req can be sent again: GET and HEAD always, other
// methods when they have no body or one that can be re-read.
func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		return true
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// transientStatus reports whether a response status is worth another try.
func transientStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// transientErr reports whether a transport error is worth another try: a
// connection reset or closed early, a timeout that is not the caller's.
func transientErr(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !retryable(req) {
		return t.inner.RoundTrip(req)
	}
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		resp, err := t.inner.RoundTrip(r)
		transient := transientErr(err) || (err == nil && transientStatus(resp.StatusCode))
		if !transient {
			return resp, err
		}
		if attempt >= t.policy.Attempts {
			re := &RetryError{Method: req.Method, URL: redact(req), Attempts: attempt, Err: err}
			if resp != nil {
				re.Status = resp.StatusCode
				drain(resp)
			}
			return nil, re
		}
		wait := jitter(t.policy.delay(attempt))
		if resp != nil {
			if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = ra
			}
			drain(resp)
		}
		wait = min(wait, t.policy.Max)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// drain reads a little of a response body we do not use, so that its
// connection can be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	_ = resp.Body.Close()
}

// redact is the request's URL without its query (upload URLs carry state tokens).
func redact(req *http.Request) string {
	u := *req.URL
	u.RawQuery = ""
	u.User = nil
	return u.String()
}

// ParseRetryAfter reads an HTTP Retry-After value: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3), relative to now. It reports false for an empty
// or malformed value; a date in the past is a zero wait.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// IsTransient reports whether err is a failure worth trying again that was
// not already retried: a connection reset or cut short while a blob streamed.
func IsTransient(err error) bool {
	return !errors.Is(err, ErrRetriesExhausted) && !errors.Is(err, ErrBadBlob) && transientErr(err)
}

// Wait sleeps before retry attempt n+1 (n ≥ 1) of the policy, or until ctx is
// done.
func (p RetryPolicy) Wait(ctx context.Context, n int) error {
	p = p.withDefaults()
	t := time.NewTimer(jitter(p.delay(n)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Policy is the client's retry policy, defaults filled in.
func (c *Client) Policy() RetryPolicy { return c.o.Retry }
