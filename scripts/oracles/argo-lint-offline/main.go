// argo-lint-offline: `argo lint --offline --strict` without the argo CLI's server/UI packages. Test oracle only.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/argoproj/argo-workflows/v4/cmd/argo/lint"
	"github.com/argoproj/argo-workflows/v4/pkg/apiclient"
	"github.com/argoproj/argo-workflows/v4/util/logging"
)

func main() {
	output := flag.String("output", "simple", "pretty|simple")
	strict := flag.Bool("strict", true, "reject unknown fields")
	flag.Parse()
	files := flag.Args()
	ctx := logging.WithLogger(context.Background(), logging.NewSlogLogger(logging.Warn, logging.Text))
	ctx, client, err := apiclient.NewClientFromOptsWithContext(ctx, apiclient.Opts{Offline: true, OfflineFiles: files})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	kinds := []string{"workflows", "workflowtemplates", "cronworkflows", "clusterworkflowtemplates"}
	opts := lint.LintOptions{Files: files, Strict: *strict, DefaultNamespace: "default", Printer: os.Stdout}
	if err := lint.RunLint(ctx, client, kinds, *output, true, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
