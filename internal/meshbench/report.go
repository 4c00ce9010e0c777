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
	fmt.Fprintln(tw, "impl\tvariant\tR msg/s\tpublished\tdelivery %\tp50 ms\tp99 ms\tmax ms\tCPU µs/deliv\twire B/deliv\theap MiB/node\tdrops\tdup\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t%d\t%d\t\n",
			r.Impl, r.Variant, r.Rate, r.Published, r.DeliveryPct, r.P50ms, r.P99ms, r.MaxMs,
			r.CPUPerDeliveryUs, r.WireBytesPerDelivery, r.HeapMiBPerNode, r.Drops, r.Duplicates)
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

// WriteJSON prints rows as one JSON document.
func WriteJSON(w io.Writer, rows []RateResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Rows []RateResult `json:"rows"`
	}{rows})
}
