// Command wharf runs the Wharf server and talks to it as an operator.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "wharf",
		Short:         "Wharf: a self-hosted marketplace for containerised ML algorithms and model packages",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCmd(), adminCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wharf:", err)
		os.Exit(1)
	}
}
