package sim

import "syscall"

// osYield gives the processor to another runnable thread, if any
// (sched_yield): a spinning worker or caller then delays no thread of a
// busy machine, one of this process's own among them.
func osYield() { syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
