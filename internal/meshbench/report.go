package meshbench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints rows as the M1 table, then the sustained rate of each
// implementation and variant.
func WriteTable(w io.Writer, rows []RateResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "impl\tvariant\tR msg/s\tpublished\tload s\tdelivery %\tp50 ms\tp99 ms\tmax ms\topen p50 ms\topen p99 ms\tCPU µs/deliv\twire B/deliv\theap MiB/node\tdrops\tdup\tcontend\tload1\tmaxQ KiB\tmaxQ msgs\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t%d\t%d\t%d\t%.2f\t%s\t%s\t\n",
			r.Impl, r.Variant, r.Rate, r.Published, r.LoadSeconds, r.DeliveryPct, r.P50ms, r.P99ms, r.MaxMs, r.OpenP50ms, r.OpenP99ms,
			r.CPUPerDeliveryUs, r.WireBytesPerDelivery, r.HeapMiBPerNode, r.Drops, r.Duplicates,
			r.Contend, r.LoadAvg1, orDash(r.MaxQueueBytes, 1024), orDash(r.MaxQueueMessages, 1))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	groups := map[[2]string][]RateResult{}
	var order [][2]string
	for _, r := range rows {
		k := [2]string{r.Impl, r.Variant}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range order {
		fmt.Fprintf(w, "sustained rate %s %s: %d msg/s\n", k[0], k[1], SustainedRate(groups[k]))
	}
	return nil
}

// WriteJSON prints results (M1 rows or M2 results) as one JSON document.
func WriteJSON[T RateResult | M2Result](w io.Writer, rows []T) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Rows []T `json:"rows"`
	}{rows})
}

// WriteM2Table prints M2: the idle heartbeat cost, then the load row.
func WriteM2Table(w io.Writer, res []M2Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "impl\tvariant\ttopics\tper node\ttopic-peer pairs\tidle CPU µs/pair/s\tidle wire B/s\tidle heap MiB/node\t")
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.3f\t%.0f\t%.1f\t\n", r.Impl, r.Variant, r.Topics, r.PerNode,
			r.TopicPeerPairs, r.IdleCPUPerPairSecondUs, r.IdleWireBytesPerSecond, r.IdleHeapMiBPerNode)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	loads := make([]RateResult, 0, len(res))
	for _, r := range res {
		loads = append(loads, r.Load)
	}
	fmt.Fprintln(w, "under load:")
	return WriteTable(w, loads)
}

// orDash prints v/div, or "-" for a figure the implementation does not
// report (negative).
func orDash(v, div int64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%d", v/div)
}
