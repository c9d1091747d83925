// Command etcd is the etcd server the test clusters store their objects in,
// built from go.etcd.io/etcd/server/v3 (the same entry point as upstream's).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
