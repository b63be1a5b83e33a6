package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpMaxLines is one screen: --help must fit it at helpWidth columns.
const helpMaxLines = 45

// Each command's --help fits one screen, shows two or three examples that
// parse, and points to its documentation page and to the reference.
func TestHelpFitsOneScreen(t *testing.T) {
	tests := []struct {
		args []string
		page string
	}{
		{nil, "getting-started.md"},
		{[]string{"check"}, "ci.md"},
		{[]string{"watch"}, "in-cluster.md"},
		{[]string{"adopt"}, "acting-on-drift.md"},
		{[]string{"revert"}, "acting-on-drift.md"},
		{[]string{"rbac"}, "security.md"},
		{[]string{"fleet"}, "fleet.md"},
		{[]string{"version"}, "getting-started.md"},
		{[]string{"options"}, "reference.md"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		name := strings.Join(append([]string{"driftwatch"}, tt.args...), " ")
		covered[name] = true
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(t.Context(), append(tt.args, "--help"), streams{Out: &out, Err: &errOut}); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			help := out.String()
			if n := screenLines(help, helpWidth); n > helpMaxLines {
				t.Errorf("--help is %d lines at %d columns, more than %d:\n%s", n, helpWidth, helpMaxLines, help)
			}
			for _, want := range []string{docsURL + tt.page, docsURL + "reference.md"} {
				if !strings.Contains(help, want) {
					t.Errorf("--help does not point to %s:\n%s", want, help)
				}
			}
			if len(tt.args) == 0 && !strings.Contains(help, "https://github.com/driftwatch/driftwatch/tree/main/docs\n") {
				t.Errorf("root --help does not point to the docs tree:\n%s", help)
			}
			cmd, _, err := newRootCmd(streams{Out: &out, Err: &out}).Find(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			examples := exampleLines(cmd.Example)
			if len(examples) < 2 || len(examples) > 3 {
				t.Errorf("%d examples, want 2 or 3:\n%s", len(examples), cmd.Example)
			}
			for _, ex := range examples {
				if err := parseExample(ex, cmd); err != nil {
					t.Errorf("example %q: %v", ex, err)
				}
			}
		})
	}
	for _, c := range newRootCmd(streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}).Commands() {
		if c.IsAvailableCommand() && c.Name() != "completion" && !covered[c.CommandPath()] {
			t.Errorf("%s is a visible command missing from this test (and from commandDocs?)", c.CommandPath())
		}
	}
}

// screenLines counts the lines s takes on a terminal width columns wide.
func screenLines(s string, width int) int {
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		n += max(1, (utf8.RuneCountInString(line)+width-1)/width)
	}
	return n
}

func exampleLines(example string) []string {
	var out []string
	for _, line := range strings.Split(example, "\n") {
		if strings.TrimSpace(line) != "" {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// parseExample parses an example's command line as cobra would for the
// command it names, without running it: the command must be cmd (or, in
// the root's examples, any of its subcommands), its flags must exist and
// take their values, and it must take the arguments left.
func parseExample(line string, cmd *cobra.Command) error {
	line, _, _ = strings.Cut(line, " #")
	line, _, _ = strings.Cut(line, "|")
	args := strings.Fields(line)
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
		args = args[1:] // VAR=value before the command
	}
	if len(args) == 0 || args[0] != "driftwatch" {
		return fmt.Errorf("does not run driftwatch")
	}
	var out bytes.Buffer
	root := newRootCmd(streams{Out: &out, Err: &out})
	c, rest, err := root.Find(args[1:])
	if err != nil {
		return err
	}
	if cmd.HasParent() && c.CommandPath() != cmd.CommandPath() {
		return fmt.Errorf("runs %s, not %s", c.CommandPath(), cmd.CommandPath())
	}
	if !c.Runnable() {
		return fmt.Errorf("%s is not a command that runs", c.CommandPath())
	}
	if err := c.ParseFlags(rest); err != nil {
		return fmt.Errorf("%s: %w", c.CommandPath(), err)
	}
	return c.ValidateArgs(c.Flags().Args())
}

// The flags every source, cluster, comparison and targeting command shares
// are all in a group, so --help names them and options lists them.
func TestSharedFlagsAreGrouped(t *testing.T) {
	f := pflag.NewFlagSet("shared", pflag.ContinueOnError)
	(&sourceFlags{}).register(f)
	(&clusterOptions{}).register(f)
	(&compareFlags{}).register(f)
	(&targetFlags{}).register(f)
	f.VisitAll(func(fl *pflag.Flag) {
		if g, _ := flagGroup(fl); g == "" {
			t.Errorf("shared flag --%s is in no group: markFlagGroup it in flags.go", fl.Name)
		}
	})
	// options lists each of them with its help.
	var out bytes.Buffer
	if code := run(t.Context(), []string{"options"}, streams{Out: &out, Err: &out}); code != 0 {
		t.Fatalf("options: exit %d: %s", code, out.String())
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	f.VisitAll(func(fl *pflag.Flag) {
		if !strings.Contains(text, "--"+fl.Name+" ") || !strings.Contains(text, strings.Join(strings.Fields(fl.Usage), " ")) {
			t.Errorf("options does not list --%s with its help", fl.Name)
		}
	})
}

// A shared flag is the same in every command that takes it (options shows
// one help for it): same group, same help, same default. A command may
// still have its own flag of the same name (rbac's --confirm).
func TestSharedFlagsAgree(t *testing.T) {
	seen := map[string]*pflag.Flag{}
	where := map[string]string{}
	for _, c := range referenceCommands(newRootCmd(streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			g, _ := flagGroup(f)
			if g == "" {
				return
			}
			if prev, ok := seen[f.Name]; ok {
				pg, _ := flagGroup(prev)
				if pg != g || prev.Usage != f.Usage || prev.DefValue != f.DefValue {
					t.Errorf("shared flag --%s differs between %s and %s", f.Name, where[f.Name], c.CommandPath())
				}
				return
			}
			seen[f.Name], where[f.Name] = f, c.CommandPath()
		})
	}
}
