// Command fakecamara runs camaratest's fake CAMARA SIM Swap network on
// loopback for trying the SIM-swap gate by hand (the README's worked
// example): it writes a --simswap-config file for it, then serves until
// interrupted. Nothing here talks to a real network.
//
//	go run ./wallet/simswap/camaratest/fakecamara --dir ./data/simswap --swap +254722000001
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kibubu/kibubu/wallet/simswap/camaratest"
)

func main() {
	dir := flag.String("dir", "./data/simswap", "`directory` for the configuration and client secret files")
	prefix := flag.String("prefix", "+2547", "E.164 `prefix` of the numbers the fake network serves")
	above := flag.String("above", "1000", "`amount` (major units) above which transfers are checked")
	swap := flag.String("swap", "", "comma-separated E.164 `phones` whose SIM changed an hour ago")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "fakecamara:", err)
		os.Exit(1)
	}
	net := camaratest.New(nil)
	defer net.Close()
	path, err := net.WriteConfig(*dir, *prefix, *above, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakecamara:", err)
		os.Exit(1)
	}
	for _, p := range strings.Split(*swap, ",") {
		if p = strings.TrimSpace(p); p != "" {
			net.SetSwap(p, time.Now().Add(-time.Hour))
			fmt.Printf("SIM of %s changed an hour ago\n", p)
		}
	}
	fmt.Printf("fake CAMARA network on %s\nstart the wallet with --simswap-config %s\n", net.URL, path)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
