package spec

import (
	"runtime"
	"slices"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32Syscall is the bit that marks an x32 ABI syscall number on amd64.
const x32Syscall = 0x40000000

// kernelRunsX32 reports whether the kernel executes x32 ABI syscalls. Most
// distribution kernels are built without that ABI (CONFIG_X86_X32_ABI);
// then no process can make an x32 syscall, and a seccomp filter's x32
// branch is dead weight that the container's init still compiles on every
// start (about 7 ms of a `docker run` here). A probe that is refused for
// any other reason (berthd itself under a seccomp filter) keeps the branch.
var kernelRunsX32 = sync.OnceValue(func() bool {
	if runtime.GOARCH != "amd64" {
		return false
	}
	_, _, errno := unix.RawSyscall(x32Syscall|unix.SYS_GETPID, 0, 0, 0)
	return errno != unix.ENOSYS
})

// dropDeadArches removes from a profile the architectures the kernel
// cannot run, which changes nothing the filter allows or denies.
func dropDeadArches(sc *specs.LinuxSeccomp) {
	if sc == nil || kernelRunsX32() {
		return
	}
	sc.Architectures = slices.DeleteFunc(slices.Clone(sc.Architectures), func(a specs.Arch) bool { return a == specs.ArchX32 })
}
