package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// atHop posts one Africa's Talking hop to base and returns the status and
// the body.
func atHop(t *testing.T, base, session, phone, text, lang string) (int, string) {
	t.Helper()
	form := url.Values{"sessionId": {session}, "phoneNumber": {phone}, "serviceCode": {"*334#"}, "text": {text}}
	req, err := http.NewRequest(http.MethodPost, base+"/ussd/africastalking", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("hop %s %q: %v", session, text, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestShutdownDrainsGateway checks a gateway's graceful shutdown: once it
// begins, /readyz answers 503, a new session's first hop gets a clean END
// screen asking to dial again in the caller's language, and a hop in flight
// when the listener closes still gets its answer before Close returns.
func TestShutdownDrainsGateway(t *testing.T) {
	embeddedOnly(t)
	m := startMain(t, &Main{Config: testConfig(t, "")})
	addr := m.HTTPAddr()
	base := "http://" + addr
	if code, body := atHop(t, base, "A", "+254712000301", "", ""); code != http.StatusOK || !strings.HasPrefix(body, "CON ") {
		t.Fatalf("first hop before the shutdown = %d %q, want 200 CON", code, body)
	}

	// Session A's second hop, its body half sent: in flight.
	body := url.Values{"sessionId": {"A"}, "phoneNumber": {"+254712000301"}, "serviceCode": {"*334#"}, "text": {"1"}}.Encode()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /ussd/africastalking HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(body), body[:len(body)/2])
	// The server accepts connections in order: once a later one is
	// answered, the hop's is accepted and tracked.
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}

	m.Drain()
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != `{"status":"unavailable","failed":["shutdown"]}` {
		t.Errorf("/readyz once the shutdown began = %d %s, want 503 naming shutdown", code, body)
	}
	for i, lang := range []string{"en", "sw", "fr"} {
		code, body := atHop(t, base, "B"+lang, fmt.Sprintf("+25471200040%d", i), "", lang)
		if want := "END " + render(lang, "ussd.draining", nil); code != http.StatusOK || body != want {
			t.Errorf("a new session's first hop (%s) once the shutdown began = %d %q, want 200 %q", lang, code, body, want)
		}
	}

	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	for { // the listener closes at once; the hop in flight holds Close
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a hop in flight", err)
	default:
	}
	io.WriteString(conn, body[len(body)/2:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the hop in flight got no answer: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(got), "CON ") {
		t.Errorf("the hop in flight = %d %q, want 200 and the session's next screen", resp.StatusCode, got)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}
