package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpWidth is the terminal width --help is laid out for.
const helpWidth = 100

// docsURL is where the documentation pages are read on the web.
const docsURL = "https://github.com/driftwatch/driftwatch/blob/main/docs/"

// commandDocs is the documentation page each command's --help points to,
// beside docs/reference.md, by name ("" for the root, whose name is drift
// as a kubectl plugin); a test fails for a visible command without one.
var commandDocs = map[string]string{
	"":        "getting-started.md",
	"check":   "ci.md",
	"watch":   "in-cluster.md",
	"adopt":   "acting-on-drift.md",
	"revert":  "acting-on-drift.md",
	"rbac":    "security.md",
	"fleet":   "fleet.md",
	"version": "getting-started.md",
	"options": "reference.md",
}

// flagGroupAnnotation marks a flag that several commands share with the
// group it belongs to: --help names such flags on one line per group, and
// `driftwatch options` lists them with their help.
const flagGroupAnnotation = "driftwatch.dev/flag-group"

// The flag groups, in the order --help and options show them.
const (
	groupSource      = "Source"
	groupCredentials = "Credentials"
	groupCluster     = "Cluster"
	groupTargeting   = "Targeting"
	groupComparison  = "Comparison"
)

var flagGroups = []string{groupSource, groupCredentials, groupCluster, groupTargeting, groupComparison}

// markFlagGroup puts the named flags, registered on f, in group, after
// the flags of f already in it (--help names them in that order). A name f
// lacks is a mistake in the code, caught by every test that builds the
// commands.
func markFlagGroup(f *pflag.FlagSet, group string, names ...string) {
	n := 0
	f.VisitAll(func(fl *pflag.Flag) {
		if g, _ := flagGroup(fl); g == group {
			n++
		}
	})
	for i, name := range names {
		if err := f.SetAnnotation(name, flagGroupAnnotation, []string{group, strconv.Itoa(n + i)}); err != nil {
			panic(fmt.Sprintf("flag group %s: %v", group, err))
		}
	}
}

// flagGroup is the group of a shared flag and its place in it; "" for a
// flag of one command.
func flagGroup(f *pflag.Flag) (group string, place int) {
	a := f.Annotations[flagGroupAnnotation]
	if len(a) != 2 {
		return "", 0
	}
	place, _ = strconv.Atoi(a[1])
	return a[0], place
}

// newCmdOptions lists the flags several commands share, group by group,
// with their help. It follows kubectl: `kubectl options` lists the global
// flags and every kubectl --help ends by pointing to it, so each --help
// here stays one screen. A command rather than `help flags`: cobra's help
// command reads its arguments as a command path, so a topic would need a
// fake command or a replaced help command, and `driftwatch options`
// (`kubectl drift options` as a plugin) is what kubectl users already type.
func newCmdOptions(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "options",
		Short: "List the flags several commands share (source, cluster, targeting...), with their help",
		Long: `options lists the flags that several commands share, with their help and the
commands that take them. Each command's --help names them in one line per group.`,
		Example: `  driftwatch options
  driftwatch options | grep -A1 -- --helm-`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeOptions(s.Out, cmd.Root())
		},
	}
}

// writeOptions writes every shared flag of root's commands, by group.
func writeOptions(w io.Writer, root *cobra.Command) error {
	flags := map[string][]*pflag.Flag{}
	users := map[string][]string{}
	for _, c := range referenceCommands(root) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			g, _ := flagGroup(f)
			if g == "" {
				return
			}
			if !slices.ContainsFunc(flags[g], func(o *pflag.Flag) bool { return o.Name == f.Name }) {
				flags[g] = append(flags[g], f)
			}
			if !slices.Contains(users[g], c.Name()) {
				users[g] = append(users[g], c.Name())
			}
		})
	}
	sets := map[string]*pflag.FlagSet{}
	for g, fs := range flags {
		slices.SortFunc(fs, func(a, b *pflag.Flag) int {
			_, pa := flagGroup(a)
			_, pb := flagGroup(b)
			return pa - pb
		})
		sets[g] = pflag.NewFlagSet(g, pflag.ContinueOnError)
		sets[g].SortFlags = false
		for _, f := range fs {
			sets[g].AddFlag(f)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Flags shared by several commands. Each can also be set through the environment:\n"+
		"DRIFTWATCH_ and the flag name in capitals with - as _ (--sync-timeout: DRIFTWATCH_SYNC_TIMEOUT).\n")
	for _, g := range flagGroups {
		if sets[g] == nil {
			continue
		}
		fmt.Fprintf(&b, "\n%s (%s):\n%s", g, strings.Join(users[g], ", "), flagTable(sets[g], helpWidth))
	}
	fmt.Fprintf(&b, "\nEvery flag of every command: %sreference.md\n", docsURL)
	_, err := io.WriteString(w, b.String())
	return err
}

// usage is every command's usage (what --help prints after the
// description): the usage line, the subcommands, the examples, the
// command's own flags in full, the shared flags named by group, and where
// to read more. It keeps --help to one screen.
func usage(c *cobra.Command) error {
	var b strings.Builder
	b.WriteString("Usage:\n")
	if c.Runnable() {
		fmt.Fprintf(&b, "  %s\n", c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "  %s [command]\n", c.CommandPath())
		b.WriteString("\nCommands:\n")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(&b, "  %-*s %s\n", sub.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	if c.Example != "" {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	own := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	type member struct {
		name  string
		place int
	}
	groups := map[string][]member{}
	for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.InheritedFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			switch g, place := flagGroup(f); {
			case f.Hidden || f.Name == "help":
			case g != "":
				// kubectl's -n and -l are known by their shorthand.
				name := "--" + f.Name
				if f.Shorthand != "" {
					name = "-" + f.Shorthand
				}
				groups[g] = append(groups[g], member{name, place})
			default:
				own.AddFlag(f)
			}
		})
	}
	if own.HasFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", flagTable(own, helpWidth))
	}
	path := c.Root().CommandPath()
	if len(groups) > 0 {
		fmt.Fprintf(&b, "\nShared flags (`%s options` shows their help):\n", path)
		for _, g := range flagGroups {
			ms := groups[g]
			if len(ms) == 0 {
				continue
			}
			slices.SortFunc(ms, func(a, b member) int { return a.place - b.place })
			var names []string
			for _, m := range ms {
				names = append(names, m.name)
			}
			b.WriteString(wrapWords(fmt.Sprintf("  %-13s", g+":"), names, helpWidth))
		}
	}
	b.WriteString("\n")
	name := c.Name()
	if !c.HasParent() {
		name = ""
	}
	if page := commandDocs[name]; page != "" {
		if !c.HasParent() {
			fmt.Fprintf(&b, "Docs:       %s\n", strings.TrimSuffix(strings.Replace(docsURL, "/blob/", "/tree/", 1), "/"))
		}
		if page != "reference.md" {
			fmt.Fprintf(&b, "Guide:      %s%s\n", docsURL, page)
		}
	}
	fmt.Fprintf(&b, "Every flag: %sreference.md\n", docsURL)
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "Use \"%s [command] --help\" for more about a command.\n", c.CommandPath())
	}
	_, err := io.WriteString(c.OutOrStderr(), b.String())
	return err
}

// flagColumnMax is how far right the help of a command's flags may start;
// a flag whose name and type reach past it has its help on the next line.
const flagColumnMax = 32

// flagTable lays out flags as pflag does (name and type, then the help and
// the default), but with the help column as far left as the flags allow:
// pflag aligns every help to the longest name, and wraps the help of
// every other flag for it.
func flagTable(fs *pflag.FlagSet, width int) string {
	type row struct{ left, help string }
	var rows []row
	short := false
	fs.VisitAll(func(f *pflag.Flag) { short = short || f.Shorthand != "" })
	col := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		one := pflag.NewFlagSet("", pflag.ContinueOnError)
		one.AddFlag(f)
		// One flag's line: indentation, name and type, three spaces, help.
		line := strings.TrimRight(one.FlagUsagesWrapped(0), "\n")
		start := len(line) - len(strings.TrimLeft(line, " "))
		left, help, _ := strings.Cut(line[start:], "   ")
		if short && f.Shorthand == "" {
			left = "    " + left
		}
		left = "  " + left
		rows = append(rows, row{left, strings.TrimSpace(help)})
		if len(left)+2 <= flagColumnMax {
			col = max(col, len(left)+2)
		}
	})
	var b strings.Builder
	for _, r := range rows {
		lead := r.left + strings.Repeat(" ", max(col-len(r.left), 0))
		if len(r.left)+2 > col {
			b.WriteString(r.left + "\n")
			lead = strings.Repeat(" ", col)
		}
		b.WriteString(wrapWords(lead, strings.Fields(r.help), width))
	}
	return b.String()
}

// wrapWords writes words after lead, wrapped at width, continuation lines
// indented as far as lead.
func wrapWords(lead string, words []string, width int) string {
	var b strings.Builder
	line := lead
	for i, w := range words {
		if i > 0 && len(line)+1+len(w) > width {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = strings.Repeat(" ", len(lead))
		} else if i > 0 {
			line += " "
		}
		line += w
	}
	return b.String() + line + "\n"
}
