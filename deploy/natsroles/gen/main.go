// Command gen writes the NATS cluster's users (natsroles.UsersConf) to a
// file: go generate ./deploy/natsroles writes deploy/nats/users.conf.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kibubu/kibubu/deploy/natsroles"
)

func main() {
	out := flag.String("o", "users.conf", "output `file`")
	prefix := flag.String("prefix", "", "the deployment's --nats-prefix")
	flag.Parse()
	if err := os.WriteFile(*out, natsroles.UsersConf(*prefix), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
