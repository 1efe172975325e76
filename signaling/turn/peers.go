package turn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// Peers is the set of peer addresses clients may relay to: the MCU's own media addresses. It is plain data
// the Server copies in New; Port must be safe for concurrent use (it runs on the relay goroutines).
type Peers struct {
	// IPs are the MCU's media addresses. A peer IP outside them is refused (CreatePermission and
	// ChannelBind fail with 403), and so is a loopback one unless Config.AllowLoopback. IPv4-mapped IPv6
	// addresses are taken as IPv4.
	IPs []netip.Addr
	// Port reports whether a peer port on those IPs may be reached, e.g. Ports(mcuUDPPort). A datagram to
	// (or from) a refused port is dropped and counted. The TURN listening ports and the ports of the
	// server's own relay sockets are refused whatever Port says. A panic in Port is recovered and counted
	// (Stats.Panics), and the datagram dropped.
	Port func(port int) bool
}

func (p *Peers) validate() error {
	if len(p.IPs) == 0 {
		return errors.New("turn: no peer ips: the relay would reach nothing")
	}
	if p.Port == nil {
		return errors.New("turn: no peer port filter")
	}
	for _, ip := range p.IPs {
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
			return fmt.Errorf("turn: peer ip %v is not a unicast address", ip)
		}
	}
	return nil
}

// Ports returns a port filter that admits exactly the given ports: the MCU's single media port
// (mcu's -udp-port), or its few sockets. The filter is immutable and safe for concurrent use, as are
// those of PortRange and PortsFrom.
func Ports(ports ...int) func(port int) bool {
	set := slices.Clone(ports)
	return func(port int) bool { return slices.Contains(set, port) }
}

// PortRange returns a port filter that admits lo to hi (inclusive): the MCU's media port range
// (mcu's -udp-ports).
func PortRange(lo, hi int) func(port int) bool {
	return func(port int) bool { return port >= lo && port <= hi }
}

// PortsFrom returns a port filter that admits every port from lo up except those in deny: for an MCU whose
// media sockets take any ephemeral port, with deny naming the host's other UDP services (SIP's 5060, DNS
// resolvers, ...).
func PortsFrom(lo int, deny ...int) func(port int) bool {
	set := slices.Clone(deny)
	return func(port int) bool { return port >= lo && port <= 65535 && !slices.Contains(set, port) }
}

// InterfacePeers builds Peers from the machine's interface addresses: of the interfaces named in names (all
// that are up when names is empty; a named interface that does not exist is an error), every unicast
// address but link-local ones, loopback included (the Server refuses loopback peers unless
// Config.AllowLoopback), plus extra (public addresses of a host behind 1:1 NAT, which the MCU advertises
// in its candidates). port is the Peers.Port filter.
func InterfacePeers(names []string, extra []netip.Addr, port func(port int) bool) (Peers, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return Peers{}, fmt.Errorf("turn: list interfaces: %w", err)
	}
	for _, n := range names {
		if !slices.ContainsFunc(ifaces, func(i net.Interface) bool { return i.Name == n }) {
			return Peers{}, fmt.Errorf("turn: no interface %q", n)
		}
	}
	var ips []netip.Addr
	for _, iface := range ifaces {
		if len(names) > 0 && !slices.Contains(names, iface.Name) || iface.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return Peers{}, fmt.Errorf("turn: addresses of %s: %w", iface.Name, err)
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipnet.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
				continue
			}
			ips = append(ips, ip)
		}
	}
	for _, ip := range extra {
		ip = ip.Unmap()
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
			return Peers{}, fmt.Errorf("turn: extra peer ip %v is not a unicast address", ip)
		}
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)
	p := Peers{IPs: ips, Port: port}
	if err := p.validate(); err != nil {
		return Peers{}, err
	}
	return p, nil
}

// peerSet is Peers as the Server uses it: an immutable set, read by any goroutine without a lock.
type peerSet struct {
	ips      map[netip.Addr]struct{}
	port     func(int) bool
	loopback bool // Config.AllowLoopback
}

func newPeerSet(p Peers, loopback bool) peerSet {
	s := peerSet{ips: make(map[netip.Addr]struct{}, len(p.IPs)), port: p.Port, loopback: loopback}
	for _, ip := range p.IPs {
		s.ips[ip.Unmap()] = struct{}{}
	}
	return s
}

// ipAllowed reports whether ip is one of the peer IPs and, if it is a loopback address, loopback peers are
// allowed.
func (s *peerSet) ipAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() && !s.loopback {
		return false
	}
	_, ok := s.ips[ip]
	return ok
}
