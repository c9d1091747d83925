// Package component runs a Kubernetes component's cobra command the way upstream's mains do,
// with the same side-effect imports, so each main here is one line of its own.
package component

import (
	"os"
	_ "time/tzdata" // CronJob time-zone support, as upstream

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
)

// Run executes command and exits with its status.
func Run(command *cobra.Command) {
	os.Exit(cli.Run(command))
}
