#!/bin/sh
# Count one program's system calls inside the kernel, without slowing it down: a
# histogram trigger on the raw_syscalls:sys_enter tracepoint, filtered on the program's
# pid (no ptrace, no per-call exit to user space).  The program is started stopped, so
# its pid is known before its first system call.
#
# A second histogram on sys_exit sums what recvmmsg() returned: the datagrams the kernel
# really handed the program, evidence that does not rest on what the program prints.
#
#   sh syscount.sh COMMAND...   -> the command's output, then two lines
#   @@syscalls sendto=N sendmsg=N sendmmsg=N recvfrom=N recvmsg=N recvmmsg=N total=N
#   @@returned recvmmsg=N
set -u
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
trigger=$T/events/raw_syscalls/sys_enter/trigger
hist=$T/events/raw_syscalls/sys_enter/hist
exit_trigger=$T/events/raw_syscalls/sys_exit/trigger
exit_hist=$T/events/raw_syscalls/sys_exit/hist

sh -c 'kill -STOP $$; exec "$@"' syscount "$@" &
pid=$!
while ! grep -q '^State:.*stopped' /proc/$pid/status 2> /dev/null; do sleep 0.01; done
spec="hist:keys=id:vals=hitcount:size=256 if common_pid == $pid"
exit_spec="hist:keys=id:vals=hitcount,ret:size=256 if common_pid == $pid && ret > 0"
echo "$spec" > $trigger
echo "$exit_spec" > $exit_trigger
kill -CONT $pid
wait $pid
status=$?
# x86-64 numbers: sendto 44, recvfrom 45, sendmsg 46, recvmsg 47, recvmmsg 299, sendmmsg 307
awk '/^\{ id:/ { gsub(/[{}:]/, " "); n[$2] += $4; total += $4 }
	END { printf "@@syscalls sendto=%d sendmsg=%d sendmmsg=%d recvfrom=%d recvmsg=%d recvmmsg=%d total=%d\n",
		n[44], n[46], n[307], n[45], n[47], n[299], total }' $hist
awk '/^\{ id:/ { gsub(/[{}:]/, " "); if ($2 == 299) n += $6 }
	END { printf "@@returned recvmmsg=%d\n", n }' $exit_hist
echo "!$spec" > $trigger
echo "!$exit_spec" > $exit_trigger
exit $status
