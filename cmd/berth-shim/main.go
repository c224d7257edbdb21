//go:build linux && cgo

// Command berth-shim is the per-container shim of Berth (see package
// github.com/berth-engine/berth/container/shim). berthd runs it next to its
// own executable:
//
//	berth-shim serve <state-dir>    own one container until it is deleted
//	berth-shim wait <pool-dir>      started ahead of need: read the state dir
//	                                (under pool-dir) on stdin, then serve it
//	berth-shim cleanup <state-dir>  remove what a dead shim left behind
//	berth-shim init                 libcontainer's container init (internal)
//
// libcontainer re-executes this binary as the init of every container, so
// it is kept small: build it with cgo and `-tags seccomp`.
package main

import (
	"fmt"
	"os"

	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/berth-engine/berth/container/shim/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// Never returns.
		libcontainer.Init()
	}
	if len(os.Args) != 3 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(server.Serve(os.Args[2]))
	case "wait":
		os.Exit(server.ServeWarm(os.Args[2]))
	case "cleanup":
		if err := server.Cleanup(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "berth-shim cleanup: %v\n", err)
			os.Exit(1)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: berth-shim serve|cleanup <state-dir> | wait <pool-dir>")
	os.Exit(2)
}
