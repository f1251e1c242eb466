#!/bin/sh
# Count one program's system calls inside the kernel, without slowing it down: a
# histogram trigger on the raw_syscalls:sys_enter tracepoint, filtered on the program's
# pid (no ptrace, no per-call exit to user space).  The program is started stopped, so
# its pid is known before its first system call.
#
#   sh syscount.sh COMMAND...   -> the command's output, then one line
#   @@syscalls sendto=N sendmsg=N sendmmsg=N recvfrom=N recvmsg=N recvmmsg=N total=N
set -u
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
trigger=$T/events/raw_syscalls/sys_enter/trigger
hist=$T/events/raw_syscalls/sys_enter/hist

sh -c 'kill -STOP $$; exec "$@"' syscount "$@" &
pid=$!
while ! grep -q '^State:.*stopped' /proc/$pid/status 2> /dev/null; do sleep 0.01; done
spec="hist:keys=id:vals=hitcount:size=256 if common_pid == $pid"
echo "$spec" > $trigger
kill -CONT $pid
wait $pid
status=$?
# x86-64 numbers: sendto 44, recvfrom 45, sendmsg 46, recvmsg 47, recvmmsg 299, sendmmsg 307
awk '/^\{ id:/ { gsub(/[{}:]/, " "); n[$2] += $4; total += $4 }
	END { printf "@@syscalls sendto=%d sendmsg=%d sendmmsg=%d recvfrom=%d recvmsg=%d recvmmsg=%d total=%d\n",
		n[44], n[46], n[307], n[45], n[47], n[299], total }' $hist
echo "!$spec" > $trigger
exit $status
