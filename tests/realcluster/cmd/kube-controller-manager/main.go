// Command kube-controller-manager is the real controller manager (namespace
// deletion, garbage collection, service-account tokens), built from the
// k8s.io/kubernetes module. It is the same main as upstream's.
package main

import (
	"os"
	_ "time/tzdata" // CronJob time-zone support, as upstream

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
