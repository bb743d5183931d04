// Command shoal asks a running Shoal cluster what is where, through any
// node's operator API: shoal members, whereis NAME, registered, stats.
// See package admin/cli for the commands, flags and token; the node's
// own binary runs the same as "houseparty shoal ...".
package main

import (
	"context"
	"os"

	"github.com/shoalhq/shoal/admin/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
