// Command kube-controller-manager is the real controller manager (namespace
// deletion, garbage collection, service-account tokens), built from the
// k8s.io/kubernetes module.
package main

import (
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"meshcluster/tests/realcluster/internal/component"
)

func main() {
	component.Run(app.NewControllerManagerCommand())
}
