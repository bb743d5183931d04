package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalhq/shoal/houseparty"
)

// The party's numbers in /metrics: the scenario's stats, gathered from
// every room and person of the cluster at each scrape (the same on every
// node; a dashboard takes the max over nodes).
var (
	descPeople    = prometheus.NewDesc("houseparty_people", "People of the party, by status (waiting, in_room, left).", []string{"status"}, nil)
	descRooms     = prometheus.NewDesc("houseparty_rooms", "Rooms of the party.", nil, nil)
	descFullness  = prometheus.NewDesc("houseparty_avg_fullness_percent", "People in rooms over the rooms' capacity, in percent.", nil, nil)
	descWanderers = prometheus.NewDesc("houseparty_avg_wanderlust_completion_percent", "Moves made over moves wanted, in percent.", nil, nil)
)

// partyCollector reads the party's stats at each scrape.
type partyCollector struct {
	party   *houseparty.Party
	timeout time.Duration
}

func (c partyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPeople
	ch <- descRooms
	ch <- descFullness
	ch <- descWanderers
}

func (c partyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.party.Stats(ctx)
	if err != nil {
		// Some room or person did not answer (moving, or its node is
		// stopping): no numbers rather than wrong ones.
		ch <- prometheus.NewInvalidMetric(descPeople, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descPeople, float64(st.PeopleWaitingToEnterParty), "waiting")
	gauge(descPeople, float64(st.PeopleInRooms), "in_room")
	gauge(descPeople, float64(st.PeopleLeftParty), "left")
	gauge(descRooms, float64(st.TotalRooms))
	gauge(descFullness, st.AvgFullness)
	gauge(descWanderers, st.AvgWanderlustCompletion)
}
