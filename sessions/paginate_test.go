package sessions

import (
	"strings"
	"testing"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// A screen longer than one USSD page is split on its lines: 98 More on
// every page but the last, the navigation on the last, each page within
// 160 GSM-7 septets; 98 turns the page, and any other input is the
// screen's own.
func TestPagination(t *testing.T) {
	cat, err := locales.New()
	if err != nil {
		t.Fatal(err)
	}
	kes, _ := wallet.LookupCurrency("KES")
	e := &Engine{cfg: Config{Locales: cat, Currency: kes, PINLength: 4}}
	// A confirmation whose recipient name (no real one is this long: the
	// menus clip names) pushes it past one page.
	nodes["test.long"] = &node{prompt: "ussd.send.confirm", nav: true, choices: confirm("send.pin"),
		data: func(*turn) map[string]any {
			return map[string]any{"Amount": "KES 500,000.00", "Fee": "KES 108.00", "Phone": "+254712345678",
				"Name": strings.Repeat("Wanjiku ", 12) + "Kamau"}
		}}
	defer delete(nodes, "test.long")
	st := &state{Lang: "en", Path: []string{"main", "test.long"}}
	tr := &turn{e: e, st: st}
	pages := tr.compose("")
	if len(pages) < 2 {
		t.Fatalf("got %d page(s), want the long screen split", len(pages))
	}
	for i, p := range pages {
		if !locales.FitsScreen(p) {
			t.Errorf("page %d does not fit: %q", i, p)
		}
		last := i == len(pages)-1
		if got := strings.HasSuffix(p, "\n98 More"); got == last {
			t.Errorf("page %d of %d ends with 98 More: %v\n%s", i+1, len(pages), got, p)
		}
		if last && !strings.HasSuffix(p, "0 Back\n00 Home") {
			t.Errorf("last page lacks the navigation: %q", p)
		}
	}
	tr.show("")
	if st.Screen.Text != pages[0] {
		t.Errorf("first screen %q, want page 1", st.Screen.Text)
	}
	for i := 1; i < len(pages); i++ {
		tr.handle("98")
		if st.Screen.Text != pages[i] || st.Page != i {
			t.Errorf("after 98 #%d: page %d %q, want %q", i, st.Page, st.Screen.Text, pages[i])
		}
	}
	tr.handle("98") // past the last page: the screen's own invalid choice
	if !strings.HasPrefix(st.Screen.Text, "Invalid choice.\n") || st.Page != 0 {
		t.Errorf("98 on the last page: page %d %q, want the invalid-choice re-prompt", st.Page, st.Screen.Text)
	}
	tr.handle("2") // the screen's own input still works
	if !st.Ended || st.Screen.Text != cat.Render("en", "ussd.cancelled", nil) {
		t.Errorf("2 (cancel): %+v", st.Screen)
	}
}
