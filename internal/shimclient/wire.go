package shimclient

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// This file is the protobuf wire format, as far as the task API needs it: varints,
// length-delimited fields and the skipping of fields of any other type. Encoding
// follows proto3 (a field with its zero value is not written); decoding follows
// protobuf-go's: the last occurrence of a scalar wins, the occurrences of a message
// field are merged, a field of an unexpected wire type is skipped as unknown.

// Wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// maxFieldNumber is protobuf's largest field number (2^29-1).
const maxFieldNumber = 1<<29 - 1

// errWire is a malformed protobuf message.
var errWire = errors.New("malformed protobuf message")

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendTag(b []byte, num, typ int) []byte {
	return appendVarint(b, uint64(num)<<3|uint64(typ))
}

// appendUint writes a varint field (uint32, uint64, int64, an enum), unless v is 0.
func appendUint(b []byte, num int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendVarint(appendTag(b, num, wireVarint), v)
}

// appendBool writes a bool field, unless it is false.
func appendBool(b []byte, num int, v bool) []byte {
	if !v {
		return b
	}
	return appendUint(b, num, 1)
}

// appendString writes a string field, unless it is empty.
func appendString(b []byte, num int, s string) []byte {
	if s == "" {
		return b
	}
	b = appendVarint(appendTag(b, num, wireBytes), uint64(len(s)))
	return append(b, s...)
}

// appendBytes writes a bytes field, unless it is empty.
func appendBytes(b []byte, num int, p []byte) []byte {
	if len(p) == 0 {
		return b
	}
	b = appendVarint(appendTag(b, num, wireBytes), uint64(len(p)))
	return append(b, p...)
}

// consumeVarint reads a varint at the start of b: its value and length, or n = 0 when b
// holds none (cut short, or longer than 10 bytes, or overflowing 64 bits).
func consumeVarint(b []byte) (v uint64, n int) {
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, 0 // more than 64 bits
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// field is one field of a message: its number and wire type, and its value (v for a
// varint, p for a length-delimited field; fixed-size fields are skipped unread).
type field struct {
	num, typ int
	v        uint64
	p        []byte
}

// nextField reads the field at the start of b and returns it and what follows.
func nextField(b []byte) (field, []byte, error) {
	tag, n := consumeVarint(b)
	if n == 0 {
		return field{}, nil, fmt.Errorf("%w: a field's tag is cut short", errWire)
	}
	b = b[n:]
	f := field{typ: int(tag & 7)}
	if tag>>3 == 0 || tag>>3 > maxFieldNumber {
		return field{}, nil, fmt.Errorf("%w: field number %d", errWire, tag>>3)
	}
	f.num = int(tag >> 3)
	switch f.typ {
	case wireVarint:
		if f.v, n = consumeVarint(b); n == 0 {
			return field{}, nil, fmt.Errorf("%w: field %d's varint is cut short", errWire, f.num)
		}
		return f, b[n:], nil
	case wireBytes:
		l, n := consumeVarint(b)
		if n == 0 || l > uint64(len(b)-n) {
			return field{}, nil, fmt.Errorf("%w: field %d's length is cut short or beyond the message", errWire, f.num)
		}
		f.p = b[n : n+int(l)]
		return f, b[n+int(l):], nil
	case wireFixed64:
		if len(b) < 8 {
			return field{}, nil, fmt.Errorf("%w: field %d's 8 bytes are cut short", errWire, f.num)
		}
		return f, b[8:], nil
	case wireFixed32:
		if len(b) < 4 {
			return field{}, nil, fmt.Errorf("%w: field %d's 4 bytes are cut short", errWire, f.num)
		}
		return f, b[4:], nil
	}
	// Groups (3, 4) are proto2's, unused by the task API; 6 and 7 do not exist.
	return field{}, nil, fmt.Errorf("%w: field %d has wire type %d", errWire, f.num, f.typ)
}

// decode calls fn for each field of message b whose wire type is varint or bytes; others
// are skipped, as protobuf-go skips unknown fields.
func decode(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		if f.typ != wireVarint && f.typ != wireBytes {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// timestamp is a google.protobuf.Timestamp {seconds = 1, nanos = 2}.
type timestamp struct {
	set     bool // the field was present
	seconds int64
	nanos   int32
}

func (t *timestamp) decode(b []byte) error {
	t.set = true
	return decode(b, func(f field) error {
		switch {
		case f.num == 1 && f.typ == wireVarint:
			t.seconds = int64(f.v)
		case f.num == 2 && f.typ == wireVarint:
			t.nanos = int32(f.v)
		}
		return nil
	})
}

// time is the timestamp as a time.Time in UTC (as timestamppb's AsTime), or the zero time
// when the message had none.
func (t timestamp) time() time.Time {
	if !t.set {
		return time.Time{}
	}
	return time.Unix(t.seconds, int64(t.nanos)).UTC()
}

// str returns a bytes field as a string.
func (f field) str() string { return string(f.p) }

// u32 returns a varint field as a uint32 (protobuf truncates, as this does).
func (f field) u32() uint32 { return uint32(f.v & math.MaxUint32) }
