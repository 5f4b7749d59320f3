package simswap_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet/simswap"
)

// FuzzParse: the answers' parsers take any bytes from a network without
// panicking, and accept only answers that say what they mean.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"swapped": true}`, `{"swapped": false}`, `{"swapped": null}`, `{}`, `null`, `[]`, `{"swapped": "true"}`,
		`{"latestSimChange": "2026-12-01T10:00:00Z"}`, `{"latestSimChange": null, "monitoredPeriod": 120}`,
		`{"latestSimChange": "2026-12-01T10:00:00+03:00"}`, `{"latestSimChange": "yesterday"}`, `{"swapped": true} {}`,
		`{"status": 401, "code": "UNAUTHENTICATED", "message": "no"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if swapped, err := simswap.ParseCheck(body); err == nil && !json.Valid(bytes.TrimSpace(body)) {
			t.Errorf("ParseCheck(%q) = %v from invalid JSON", body, swapped)
		}
		if at, err := simswap.ParseRetrieveDate(body); err == nil && !at.IsZero() && at.Location() != time.UTC {
			t.Errorf("ParseRetrieveDate(%q) = %v, not in UTC", body, at)
		}
	})
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		body    string
		swapped bool
		wantErr bool
	}{
		{`{"swapped": true}`, true, false},
		{`{"swapped": false, "extra": 1}`, false, false},
		{`{"swapped": null}`, false, true},
		{`{}`, false, true},
		{`{"swapped": "true"}`, false, true},
		{`{"swapped": true} {"swapped": false}`, false, true},
		{`<html>`, false, true},
	} {
		got, err := simswap.ParseCheck([]byte(tc.body))
		if got != tc.swapped || (err != nil) != tc.wantErr {
			t.Errorf("ParseCheck(%s): got %v, %v; want %v, error %v", tc.body, got, err, tc.swapped, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		body    string
		want    time.Time
		wantErr bool
	}{
		{`{"latestSimChange": "2026-12-01T10:00:00+03:00"}`, time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC), false},
		{`{"latestSimChange": null, "monitoredPeriod": 120}`, time.Time{}, false},
		{`{"monitoredPeriod": 120}`, time.Time{}, true},
		{`{"latestSimChange": "2026-12-01"}`, time.Time{}, true},
		{`{"latestSimChange": 5}`, time.Time{}, true},
	} {
		got, err := simswap.ParseRetrieveDate([]byte(tc.body))
		if !got.Equal(tc.want) || (err != nil) != tc.wantErr {
			t.Errorf("ParseRetrieveDate(%s): got %v, %v; want %v, error %v", tc.body, got, err, tc.want, tc.wantErr)
		}
	}
}
