package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalhq/shoal/cluster"
)

// The families read at scrape time.
var (
	descMembers       = prometheus.NewDesc("shoal_members", "Members of the cluster as this node sees them, by status.", []string{"status"}, nil)
	descProcesses     = prometheus.NewDesc("shoal_processes", "Processes this node runs, system ones included.", nil, nil)
	descPassivated    = prometheus.NewDesc("shoal_processes_passivated", "Processes this node runs that are passivated now (their Behavior dropped until their next message).", nil, nil)
	descRegistered    = prometheus.NewDesc("shoal_registered_processes", "Registered processes this node runs.", nil, nil)
	descPartitions    = prometheus.NewDesc("shoal_registry_partitions", "Registry partitions this node holds, by role (primary, replica, gathering: not answering yet).", []string{"role"}, nil)
	descNames         = prometheus.NewDesc("shoal_registry_names", "Names in the registry partitions this node serves as primary.", nil, nil)
	descRegistrations = prometheus.NewDesc("shoal_registrations_total", "Processes started on this node for a new registration.", nil, nil)
	descRestarts      = prometheus.NewDesc("shoal_restarts_total", "Processes started on this node again because their node was lost (from a checkpoint or their spec).", nil, nil)
	descHandoffs      = prometheus.NewDesc("shoal_handoffs_total", "Processes moved with their state to this node (in) or from it (out).", []string{"direction"}, nil)
	descConflicts     = prometheus.NewDesc("shoal_conflicts_total", "Names found registered twice after a netsplit: copies here that lost (lost), losers' states merged here (merged).", []string{"outcome"}, nil)
	descLinkFrames    = prometheus.NewDesc("shoal_link_frames_total", "Frames exchanged with another node, by node and direction.", []string{"peer", "direction"}, nil)
	descLinkBytes     = prometheus.NewDesc("shoal_link_bytes_total", "Bytes of the frames exchanged with another node (before encryption), by node and direction.", []string{"peer", "direction"}, nil)
	descLinkErrors    = prometheus.NewDesc("shoal_link_errors_total", "Links to or from another node that failed, by node.", []string{"peer"}, nil)
	descLinkDropped   = prometheus.NewDesc("shoal_link_dropped_total", "Frames for another node that could not be sent, by node.", []string{"peer"}, nil)
	descLinkRefused   = prometheus.NewDesc("shoal_link_refused_total", "Casts and sends from another node dropped because their process's bounded mailbox was full, by node.", []string{"peer"}, nil)
	descMailbox       = prometheus.NewDesc("shoal_mailbox_depth", "Mailbox lengths of this node's processes, at the scrape.", nil, nil)
	descMailboxMax    = prometheus.NewDesc("shoal_mailbox_depth_max", "The longest mailbox of this node's processes, at the scrape.", nil, nil)
)

// mailboxBuckets are the upper bounds of the mailbox depth histogram.
var mailboxBuckets = []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384}

// collector reads the parts' numbers at each scrape.
type collector struct{ src Sources }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descMembers, descProcesses, descPassivated, descRegistered, descPartitions, descNames, descRegistrations, descRestarts,
		descHandoffs, descConflicts, descLinkFrames, descLinkBytes, descLinkErrors, descLinkDropped, descLinkRefused,
		descMailbox, descMailboxMax,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if ms := c.src.Members; ms != nil {
		by := map[cluster.Status]int{}
		for _, m := range ms.Members() {
			by[m.Status]++
		}
		for _, s := range []cluster.Status{cluster.StatusAlive, cluster.StatusSuspect, cluster.StatusDead, cluster.StatusLeft} {
			gauge(descMembers, float64(by[s]), string(s))
		}
	}
	if rt := c.src.Runtime; rt != nil {
		gauge(descProcesses, float64(rt.Len()))
		gauge(descPassivated, float64(rt.Passivated()))
		counts := make([]uint64, len(mailboxBuckets))
		var sum, n uint64
		longest := 0
		rt.Mailboxes(func(depth int) {
			n++
			sum += uint64(depth)
			longest = max(longest, depth)
			for i, b := range mailboxBuckets {
				if float64(depth) <= b {
					counts[i]++
				}
			}
		})
		buckets := make(map[float64]uint64, len(mailboxBuckets))
		for i, b := range mailboxBuckets {
			buckets[b] = counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(descMailbox, n, float64(sum), buckets)
		gauge(descMailboxMax, float64(longest))
	}
	if reg := c.src.Registry; reg != nil {
		gauge(descRegistered, float64(reg.Local()))
		if st, ok := reg.Partitions(); ok {
			gauge(descPartitions, float64(st.Primary), "primary")
			gauge(descPartitions, float64(st.Replica), "replica")
			gauge(descPartitions, float64(st.Gathering), "gathering")
			gauge(descNames, float64(st.Names))
		}
		k := reg.Counts()
		counter(descRegistrations, k.Registered)
		counter(descRestarts, k.Restarted)
		counter(descHandoffs, k.MovedIn, "in")
		counter(descHandoffs, k.MovedOut, "out")
		counter(descConflicts, k.ConflictsLost, "lost")
		counter(descConflicts, k.ConflictsMerged, "merged")
	}
	if rem := c.src.Remote; rem != nil {
		for _, p := range rem.Peers() {
			counter(descLinkFrames, p.FramesIn, p.Node, "in")
			counter(descLinkFrames, p.FramesOut, p.Node, "out")
			counter(descLinkBytes, p.BytesIn, p.Node, "in")
			counter(descLinkBytes, p.BytesOut, p.Node, "out")
			counter(descLinkErrors, p.Errors, p.Node)
			counter(descLinkDropped, p.Dropped, p.Node)
			counter(descLinkRefused, p.Refused, p.Node)
		}
	}
}
