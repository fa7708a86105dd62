// Command doorway is the Doorway app-installation server and its admin CLI.
// Run `doorway --help`.
package main

import (
	"context"
	"os"

	"github.com/doorwayhq/doorway/internal/cli"
)

func main() { os.Exit(cli.Execute(context.Background())) }
