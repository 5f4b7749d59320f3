package notify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// A merchant's receiver: it checks the signature on the raw body, dedupes
// by event id, and answers 2xx at once (the work is queued).
func ExampleVerifyWebhook() {
	secret := []byte("whsec_0123456789abcdef") // as shown when the URL was set
	var mu sync.Mutex
	seen := map[string]bool{} // in production: a table, unique on the event id

	hook := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		err = notify.VerifyWebhook(secret, r.Header.Get("Kibubu-Signature"), body, 5*time.Minute, time.Now())
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev merchant.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		mu.Lock()
		again := seen[ev.ID] // the same id on every retry and re-send
		seen[ev.ID] = true
		mu.Unlock()
		if !again {
			fmt.Println("queued", ev.Type, ev.ID)
		}
		w.WriteHeader(http.StatusOK)
	}
	srv := httptest.NewServer(http.HandlerFunc(hook))
	defer srv.Close()

	// What Kibubu sends, twice (a retry after a lost answer), then forged.
	body := []byte(`{"id":"evt_QK7M2X9A1B_445566","type":"payment.received","merchant":"445566","created":"2026-11-21T10:15:00Z","data":{}}`)
	post := func(signature string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Kibubu-Signature", signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	post(notify.SignWebhook(secret, time.Now(), body))
	post(notify.SignWebhook(secret, time.Now(), body))
	post(notify.SignWebhook([]byte("whsec_guess"), time.Now(), body))
	// Output:
	// queued payment.received evt_QK7M2X9A1B_445566
	// 200
	// 200
	// 401
}
