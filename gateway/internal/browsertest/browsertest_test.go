package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kibubu/kibubu/gateway/internal/browsertest"
)

// TestBrowserRendersAPage drives the real browser through a page with a
// form: it types, submits, and reads what the server answered, then saves
// a screenshot.
func TestBrowserRendersAPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.Method == http.MethodPost {
			fmt.Fprintf(w, `<p id="out">hello %s</p>`, r.FormValue("name"))
			return
		}
		fmt.Fprint(w, `<form method="post"><input id="name" name="name"><button id="go">Go</button></form>`)
	}))
	defer srv.Close()

	ctx := browsertest.New(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL),
		chromedp.SendKeys("#name", "Amina"),
		chromedp.Click("#go"),
	)
	if err != nil {
		t.Fatal(err)
	}
	out, err := chromedp.Run(ctx, chromedp.Text("#out"))
	if err != nil {
		t.Fatal(err)
	}
	if out != "hello Amina" {
		t.Fatalf("page says %q, want %q", out, "hello Amina")
	}
	path := browsertest.Screenshot(t, ctx, "form")
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("screenshot %s: %v (size %d)", path, err, st.Size())
	}
}
