"""What a sweep or a run shows people: charts, the latency/cost frontier, the HTML report and
the comparison of two sweeps. Matplotlib is imported only where a chart is drawn, so that
`phaselab --help` and the table-only paths stay fast."""
