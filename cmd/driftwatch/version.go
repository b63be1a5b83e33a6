package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newCmdVersion(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the driftwatch version",
		Example: `  driftwatch version
  driftwatch version | cut -d' ' -f2     # the version alone, for scripts`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			commit := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, st := range bi.Settings {
					if st.Key == "vcs.revision" {
						commit = " " + st.Value
					}
				}
			}
			_, err := fmt.Fprintf(s.Out, "driftwatch %s%s (%s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
