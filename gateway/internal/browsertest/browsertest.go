// Package browsertest drives a real headless Chromium from tests, through
// chromedp, for the pages the gateway serves (the back-office and the
// simulator). A test that needs a browser fails, not skips, when none is
// installed: `.ci/run` installs Debian's chromium when it is missing.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserNames are the executables tried, in order, on PATH.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"}

// Timeout bounds one browser test's whole run: a page that never shows
// what the test waits for fails it instead of hanging the suite.
const Timeout = 90 * time.Second

// Exec returns the path of the browser to drive: $KIBUBU_TEST_CHROMIUM when
// set, else the first of browserNames on PATH.
func Exec() (string, error) {
	if p := os.Getenv("KIBUBU_TEST_CHROMIUM"); p != "" {
		return p, nil
	}
	var err error
	for _, name := range browserNames {
		var p string
		if p, err = exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", err
}

// New starts a headless browser for t and returns a chromedp context for
// one tab, bounded by Timeout. Everything is torn down when t ends. Call it
// again with the returned context as parent (chromedp.NewContext) for more
// tabs in the same browser.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := Exec()
	if err != nil {
		t.Fatalf("no Chromium to drive (install Debian's chromium, or set KIBUBU_TEST_CHROMIUM): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Containers and CI run as root, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return tab
}

// Screenshot saves the whole page as name.png under t's artifact directory
// (`go test -artifacts -outputdir D` keeps them; see testing.T.ArtifactDir)
// and returns the file's path.
func Screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	// Quality 100 makes the image a PNG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !strings.HasSuffix(name, ".png") {
		name += ".png"
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	return path
}
