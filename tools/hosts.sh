#!/usr/bin/env bash
# A test bed of several hosts on one machine: network namespaces on a Linux
# bridge, each with its own IP, and the network faults a real network has.
#
# OS idea: a network namespace is a private copy of the kernel's network
# stack (interfaces, routes, sockets, firewall), so processes in two of them
# talk over a virtual wire (a veth pair) exactly as two machines on a LAN do:
# ARP, TCP retransmission, timeouts. The filesystem is shared, standing in
# for NFS. A fault is a rule the kernel applies to that wire:
#
#   cut HOST        the host's link goes down (`ip link set ... down`): its
#                   sends fail locally, nothing reaches it, as a pulled cable.
#   blackhole HOST  every frame to or from the host is dropped on the bridge
#                   (nftables `bridge` family): its link stays up and its
#                   peers see nothing at all, as a host that froze or a
#                   firewall that drops silently.
#   split A B       frames between A and B are dropped; both still reach the
#                   others (and the master), as a broken route between racks.
#   loss PCT        every host drops PCT% of the packets it receives
#                   (iptables' `statistic` match), so every link loses PCT%.
#   restore HOST    undoes cut and blackhole for HOST; `heal` undoes all.
#
# Delay is left out: this kernel has no `netem` qdisc.
#
# Usage: tools/hosts.sh COMMAND BED [ARGS]
#   up BED [WORKERS] [NET]   bridge BED-br (10.NET.0.1/24, NET default 77),
#                            hosts BED-h0 (the master, .10) and BED-h1..hN
#                            (workers, .11...; N default 3)
#   down BED                 removes everything `up` made (idempotent)
#   ip BED HOST              the host's address (HOST is a number: 0 = master)
#   exec BED HOST CMD...     runs CMD inside the host's namespace
#   cut|blackhole|restore BED HOST, split|unsplit BED A B, loss BED PCT,
#   heal BED, show BED
# Needs root and iproute2, nftables and iptables. Traffic stays on the bridge:
# the namespaces have no route off their subnet.
set -euo pipefail

die() { echo "hosts.sh: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: tools/hosts.sh up|down|ip|exec|cut|blackhole|split|unsplit|loss|restore|heal|show BED [ARGS]"
cmd=$1 bed=$2
shift 2
[[ $bed =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "bed name '$bed' must be 1-10 lowercase letters or digits (interface names are short)"

ns() { echo "$bed-h$1"; }           # namespace of host N
port() { echo "$bed-v$1"; }         # the bridge's end of host N's veth pair
state_file() { echo "/run/minispark-hosts-$bed"; }
net_of_bed() { sed -n 's/^net=//p' "$(state_file)" 2>/dev/null; }
hosts_of_bed() { sed -n 's/^hosts=//p' "$(state_file)" 2>/dev/null; }

host_arg() {
    [[ ${1:-} =~ ^[0-9]+$ ]] || die "host must be a number (0 = master), not '${1:-}'"
    [ "$1" -lt "$(hosts_of_bed)" ] || die "bed $bed has no host $1"
    echo "$1"
}

ip_of() { echo "10.$(net_of_bed).0.$((10 + $1))"; }

# Rules live in one nftables table per bed, in the bridge family, so they see
# frames as the switch forwards them. Each rule carries a comment naming the
# fault, so it can be removed again.
nft_ready() {
    nft list table bridge "$bed" >/dev/null 2>&1 && return
    nft add table bridge "$bed"
    for hook in forward input output; do
        nft add chain bridge "$bed" "$hook-faults" "{ type filter hook $hook priority 0; policy accept; }"
    done
}

drop_rule() { # chain, match, fault name
    nft add rule bridge "$bed" "$1-faults" $2 drop comment "\"$3\""
}

remove_rules() { # fault name
    nft list table bridge "$bed" >/dev/null 2>&1 || return 0
    local chain handle
    for chain in forward input output; do
        nft -a list chain bridge "$bed" "$chain-faults" |
            sed -n "s/.*comment \"$1\".*# handle \([0-9]*\)/\1/p" |
            while read -r handle; do nft delete rule bridge "$bed" "$chain-faults" handle "$handle"; done
    done
}

up() {
    local workers=${1:-3} net=${2:-77}
    [[ $workers =~ ^[0-9]+$ ]] && [ "$workers" -ge 1 ] || die "workers must be a positive number"
    [[ $net =~ ^[0-9]+$ ]] && [ "$net" -ge 1 ] && [ "$net" -le 254 ] || die "net must be 1..254"
    down
    printf 'net=%s\nhosts=%s\n' "$net" "$((workers + 1))" >"$(state_file)"
    ip link add "$bed-br" type bridge
    ip addr add "10.$net.0.1/24" dev "$bed-br"
    ip link set "$bed-br" up
    local i
    for ((i = 0; i <= workers; i++)); do
        ip netns add "$(ns $i)"
        ip link add "$(port $i)" type veth peer name eth0 netns "$(ns $i)"
        ip link set "$(port $i)" master "$bed-br" up
        ip -n "$(ns $i)" addr add "$(ip_of $i)/24" dev eth0
        ip -n "$(ns $i)" link set eth0 up
        ip -n "$(ns $i)" link set lo up
    done
    nft_ready
}

down() {
    local f i
    f=$(state_file)
    if [ -f "$f" ]; then
        for ((i = 0; i < $(hosts_of_bed); i++)); do
            ip netns del "$(ns $i)" 2>/dev/null || true
        done
    fi
    # Namespaces left by an earlier run whose state file is gone.
    for n in $(ip netns list | awk '{print $1}' | grep "^$bed-h[0-9]*$" || true); do
        ip netns del "$n" 2>/dev/null || true
    done
    # The bridge's ends of the veth pairs: deleting one end deletes both, even
    # while the kernel is still tearing down the namespace of the other.
    for l in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^$bed-v[0-9]+$" || true); do
        ip link del "$l" 2>/dev/null || true
    done
    ip link del "$bed-br" 2>/dev/null || true
    nft delete table bridge "$bed" 2>/dev/null || true
    rm -f "$f"
}

[ "$cmd" = up ] || [ "$cmd" = down ] || [ -f "$(state_file)" ] || die "bed $bed is not up (tools/hosts.sh up $bed)"

case $cmd in
up) up "$@" ;;
down) down ;;
ip) ip_of "$(host_arg "${1:-}")" ;;
exec)
    h=$(host_arg "${1:-}")
    shift
    exec ip netns exec "$(ns "$h")" "$@"
    ;;
cut)
    h=$(host_arg "${1:-}")
    ip link set "$(port "$h")" down
    ;;
blackhole)
    h=$(host_arg "${1:-}")
    nft_ready
    p=$(port "$h")
    drop_rule forward "iifname $p" "blackhole-$h"
    drop_rule forward "oifname $p" "blackhole-$h"
    drop_rule input "iifname $p" "blackhole-$h"
    drop_rule output "oifname $p" "blackhole-$h"
    ;;
restore)
    h=$(host_arg "${1:-}")
    ip link set "$(port "$h")" up
    remove_rules "blackhole-$h"
    ;;
split | unsplit)
    a=$(host_arg "${1:-}")
    b=$(host_arg "${2:-}")
    [ "$a" != "$b" ] || die "split needs two different hosts"
    name="split-$((a < b ? a : b))-$((a < b ? b : a))"
    remove_rules "$name"
    if [ "$cmd" = split ]; then
        nft_ready
        drop_rule forward "iifname $(port "$a") oifname $(port "$b")" "$name"
        drop_rule forward "iifname $(port "$b") oifname $(port "$a")" "$name"
    fi
    ;;
loss)
    pct=${1:-}
    [[ $pct =~ ^[0-9]+$ ]] && [ "$pct" -le 100 ] || die "loss takes a whole percentage 0..100, not '$pct'"
    for ((i = 0; i < $(hosts_of_bed); i++)); do
        ip netns exec "$(ns $i)" iptables -F INPUT
        if [ "$pct" -gt 0 ]; then
            ip netns exec "$(ns $i)" iptables -A INPUT -i eth0 -m statistic --mode random \
                --probability "$(awk "BEGIN { print $pct / 100 }")" -j DROP
        fi
    done
    ;;
heal)
    for ((i = 0; i < $(hosts_of_bed); i++)); do
        ip link set "$(port $i)" up
        ip netns exec "$(ns $i)" iptables -F INPUT
    done
    nft delete table bridge "$bed" 2>/dev/null || true
    nft_ready
    ;;
show)
    for ((i = 0; i < $(hosts_of_bed); i++)); do
        printf 'host %d  %-15s %s  link %s\n' "$i" "$(ip_of $i)" "$(ns $i)" \
            "$(ip -br link show "$(port $i)" | awk '{print $2}')"
    done
    nft list table bridge "$bed" | grep -o 'comment "[^"]*"' | sort -u | sed 's/comment /fault /' || true
    for ((i = 0; i < $(hosts_of_bed); i++)); do
        ip netns exec "$(ns $i)" iptables -S INPUT | grep statistic | sed "s/^/host $i loss: /" || true
    done
    ;;
*) die "unknown command '$cmd'" ;;
esac
