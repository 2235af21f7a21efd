package registrytest

import (
	"encoding/base64"
	"net/http"
	"testing"
)

func TestStart(t *testing.T) {
	tests := []struct {
		name   string
		users  map[string]string
		auth   string // "user:password" sent, or ""
		status int
	}{
		{"open", nil, "", http.StatusOK},
		{"auth, none sent", map[string]string{"alice": "s3cret"}, "", http.StatusUnauthorized},
		{"auth, right password", map[string]string{"alice": "s3cret"}, "alice:s3cret", http.StatusOK},
		{"auth, wrong password", map[string]string{"alice": "s3cret"}, "alice:nope", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Start(t, Options{Users: tt.users})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.URL()+"/v2/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(tt.auth)))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("GET /v2/: status %d, want %d; log:\n%s", resp.StatusCode, tt.status, r.Log())
			}
		})
	}
}
