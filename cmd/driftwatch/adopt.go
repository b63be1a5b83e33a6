package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/drift/pipeline/adopt"
	"github.com/driftwatch/driftwatch/gitsource"
)

// adoptOptions holds the flags of `driftwatch adopt` and its injected I/O.
type adoptOptions struct {
	streams
	Source  sourceFlags
	Cluster clusterOptions
	Compare compareFlags
	Target  targetFlags
	// Fields are path patterns choosing the drifted fields; empty: all.
	Fields []string
	Prune  bool
	// Write, Commit (with Branch) and Push say where the result goes;
	// none of them prints a diff.
	Write, Commit, Push bool
	Branch, Message     string
	Getenv              func(string) string
	Now                 func() time.Time
}

func newCmdAdopt(s streams) *cobra.Command {
	o := &adoptOptions{streams: s, Getenv: os.Getenv, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "adopt --dir DIR [--path PATH] [--field PATH]... [--write | --commit --branch NAME [--push]]",
		Short: "Write the cluster's values of drifted fields back into the source",
		Long: `adopt runs the same comparison as check and writes the live value of each drifted field
(or of those --field and the targeting flags choose) back into the source, in the file and place
it came from: a manifest, a kustomize base or patch, a kustomization's images:, a Helm values
file. Each edit is verified by rendering again. By default it prints a diff; --write changes the
files; --commit --branch NAME commits on a new branch, which --push pushes.

Exit codes: 0 every chosen field adopted, 1 some could not be, 2 error.`,
		Example: `  driftwatch adopt --dir . --path overlays/prod                # print the diff
  driftwatch adopt --dir . --path overlays/prod --field spec.replicas --write
  driftwatch adopt --dir . --path overlays/prod --commit --branch adopt-hotfix --push`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adoptRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.Source.register(f)
	o.Cluster.register(f)
	o.Compare.register(f)
	o.Target.register(f)
	f.StringArrayVar(&o.Fields, "field", nil, "adopt only fields matching this path (report syntax, [*] for any list item, a field selects what is below it; repeatable)")
	f.BoolVar(&o.Prune, "prune", false, "remove Missing objects from the source")
	f.BoolVar(&o.Write, "write", false, "write the changes into the work tree instead of printing a diff")
	f.BoolVar(&o.Commit, "commit", false, "commit the changes on a new branch (--branch) at HEAD; the work tree is left as it is")
	f.StringVar(&o.Branch, "branch", "", "name of the new branch for --commit (an error if it exists)")
	f.StringVarP(&o.Message, "message", "m", "", "commit message (default: one line per adopted field)")
	f.BoolVar(&o.Push, "push", false, "push the --commit branch to origin")
	return cmd
}

// validate checks the flags that need nothing but themselves.
func (o *adoptOptions) validate() ([]drift.PathPattern, error) {
	switch {
	case o.Source.Repo != "":
		return nil, errors.New("flag --repo: adopt writes into a local work tree: use --dir")
	case o.Source.Dir == "":
		return nil, errors.New("flag --dir: required (the directory or work tree to write into)")
	case o.Push && !o.Commit:
		return nil, errors.New("flag --push: needs --commit (only a committed branch is pushed)")
	case o.Commit && o.Branch == "":
		return nil, errors.New("flag --commit: needs --branch NAME")
	case o.Branch != "" && !o.Commit:
		return nil, errors.New("flag --branch: needs --commit")
	case o.Message != "" && !o.Commit:
		return nil, errors.New("flag --message: needs --commit")
	case o.Write && o.Commit:
		return nil, errors.New("flag --write: not with --commit, which leaves the work tree as it is")
	}
	var fields []drift.PathPattern
	for _, f := range o.Fields {
		p, err := drift.ParsePathPattern(f)
		if err != nil {
			return nil, fmt.Errorf("flag --field: %w", err)
		}
		fields = append(fields, p)
	}
	return fields, nil
}

func (o *adoptOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.Err, format+"\n", args...)
}

func adoptRun(ctx context.Context, o *adoptOptions) error {
	fields, err := o.validate()
	if err != nil {
		return err
	}
	st, err := prepare(o.Source, o.Compare, o.Target)
	if err != nil {
		return err
	}
	// Everything that can fail without the cluster fails first.
	dir := o.Source.Dir
	var repo *adopt.Repository
	var author, committer adopt.Signature
	switch {
	case o.Commit:
		if repo, err = adopt.OpenRepository(dir); err != nil {
			return err
		}
		if err := repo.CheckBranch(o.Branch); err != nil {
			return err
		}
		if author, committer, err = repo.Identity(o.Getenv); err != nil {
			return err
		}
	case o.Write:
		if err := checkWritable(dir); err != nil {
			return err
		}
	}
	cl, err := connect(ctx, o.Cluster)
	if err != nil {
		return err
	}
	src := st.source
	if src.Render.Capabilities == nil {
		src.Render.Capabilities = cl.Capabilities
	}
	prog := newProgress(o.Err)
	defer prog.done()
	prog.step("reading and rendering %s", dir)
	desired, err := gitsource.Load(ctx, src)
	if err != nil {
		return err
	}
	for _, w := range desired.Warnings {
		o.logf("warning: %s", w)
	}
	p, err := pipeline.New(st.pipeline, cl, nil)
	if err != nil {
		return err
	}
	defer p.Stop()
	report, err := p.Compare(ctx, desired, o.Now(), prog.step)
	if err != nil {
		return err
	}
	edits, skipped := adopt.EditsFor(report, adopt.Selection{Fields: fields, Prune: o.Prune})
	if len(edits)+len(skipped) == 0 {
		prog.done()
		o.logf("nothing to adopt: the chosen fields of the cluster match the source")
		return nil
	}
	prog.step("adopting %d fields", len(edits))
	res, err := adopt.Adopt(ctx, adopt.Source{Root: dir, Path: src.Path, Render: src.Render}, edits)
	prog.done()
	if err != nil {
		return err
	}
	outcomes := append(skipped, res.Outcomes...)
	if len(fields) > 0 {
		// A field asked for by name that the renderer makes is bad
		// input: there is nowhere to write it, whatever else is adopted.
		for _, oc := range outcomes {
			if oc.Generated {
				return errors.New(oc.String())
			}
		}
	}
	// The outcomes say "adopted ... into FILE": they are printed only
	// once the files are written, committed or shown as a diff. A write
	// or commit that fails prints its error alone.
	d, err := o.deliver(ctx, repo, author, committer, src.Auth, res)
	if d.delivered {
		for _, oc := range outcomes {
			o.logf("%s", oc)
		}
		for _, line := range d.done {
			o.logf("%s", line)
		}
	}
	if err != nil {
		return err
	}
	for _, oc := range outcomes {
		if !oc.Adopted {
			return exitCodeError{exitDrift}
		}
	}
	return nil
}

// delivery is what deliver did: whether the changes reached the place
// asked for (the diff printed, the files written, the commit made), and a
// line for each step done.
type delivery struct {
	delivered bool
	done      []string
}

// deliver prints, writes or commits the changes. A commit that is made
// and then fails to push is delivered, with the push's error.
func (o *adoptOptions) deliver(ctx context.Context, repo *adopt.Repository, author, committer adopt.Signature, auth gitsource.Auth, res *adopt.Result) (delivery, error) {
	switch {
	case len(res.Changes) == 0:
		return delivery{delivered: true}, nil
	case o.Commit:
		sha, err := repo.Commit(res.Changes, adopt.CommitOptions{
			Branch: o.Branch, Message: o.commitMessage(res), Author: author, Committer: committer, When: o.Now(),
		})
		if err != nil {
			return delivery{}, err
		}
		d := delivery{delivered: true, done: []string{fmt.Sprintf("committed %s on branch %s (%s)", sha[:12], o.Branch, countFiles(len(res.Changes)))}}
		if !o.Push {
			return d, nil
		}
		if err := repo.Push(ctx, o.Branch, auth); err != nil {
			return d, err
		}
		d.done = append(d.done, "pushed branch "+o.Branch+" to origin")
		return d, nil
	case o.Write:
		if err := writeChanges(o.Source.Dir, res.Changes); err != nil {
			return delivery{}, err
		}
		return delivery{delivered: true, done: []string{"wrote " + countFiles(len(res.Changes))}}, nil
	}
	if err := adopt.WriteDiff(o.Out, res.Changes); err != nil {
		return delivery{}, err
	}
	return delivery{delivered: true}, nil
}

func countFiles(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

func (o *adoptOptions) commitMessage(res *adopt.Result) string {
	if o.Message != "" {
		return strings.TrimRight(o.Message, "\n") + "\n"
	}
	var b strings.Builder
	b.WriteString("Adopt the cluster's values (driftwatch adopt)\n\n")
	for _, oc := range res.Outcomes {
		if oc.Adopted {
			b.WriteString(oc.String() + "\n")
		}
	}
	return b.String()
}

// checkWritable fails early when dir cannot take a new file.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".driftwatch-adopt-*")
	if err != nil {
		return fmt.Errorf("work tree %s is not writable: %w", dir, cause(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// cause is the reason inside a path error (the path is said already).
func cause(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// writeChanges writes every changed file beside itself first and renames
// them all only when every one is written. If a rename fails, the files
// already renamed get their old content back, so a failure leaves the
// work tree as it was; the error names any file it could not restore.
func writeChanges(dir string, changes []adopt.FileChange) error {
	type staged struct {
		tmp, dst string
		old      []byte
		mode     os.FileMode
	}
	var ready []staged
	cleanup := func() {
		for _, s := range ready {
			if s.tmp != "" {
				os.Remove(s.tmp)
			}
		}
	}
	for _, c := range changes {
		dst := filepath.Join(dir, filepath.FromSlash(c.Path))
		mode := os.FileMode(0o644)
		if st, err := os.Stat(dst); err == nil {
			mode = st.Mode().Perm()
		}
		if c.New == nil {
			ready = append(ready, staged{dst: dst, old: c.Old, mode: mode})
			continue
		}
		f, err := os.CreateTemp(filepath.Dir(dst), ".driftwatch-adopt-*")
		if err != nil {
			cleanup()
			return fmt.Errorf("work tree %s: cannot write %s: %w", dir, c.Path, cause(err))
		}
		ready = append(ready, staged{tmp: f.Name(), dst: dst, old: c.Old, mode: mode})
		_, werr := f.Write(c.New)
		cerr := f.Close()
		if err := errors.Join(werr, cerr, os.Chmod(f.Name(), mode)); err != nil {
			cleanup()
			return fmt.Errorf("work tree %s: cannot write %s: %w", dir, c.Path, err)
		}
	}
	for i, s := range ready {
		var err error
		if s.tmp == "" {
			err = os.Remove(s.dst)
		} else {
			err = os.Rename(s.tmp, s.dst)
		}
		if err == nil {
			ready[i].tmp = "" // renamed: nothing left to clean up
			continue
		}
		cleanup()
		err = fmt.Errorf("work tree %s: cannot write %s: %w", dir, changes[i].Path, cause(err))
		var left []string
		for j, done := range ready[:i] {
			if rerr := os.WriteFile(done.dst, done.old, done.mode); rerr != nil {
				left = append(left, changes[j].Path)
			}
		}
		if len(left) > 0 {
			err = fmt.Errorf("%w; written and not restored: %s", err, strings.Join(left, ", "))
		}
		return err
	}
	return nil
}
