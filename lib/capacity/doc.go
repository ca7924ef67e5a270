// Package capacity is the capacity model of a threefactor deployment: for
// an order rate, the load each stage of the reference workflow puts on the
// AWS quota or concurrency that bounds it, the latency it adds, the first
// limit reached and what moves it, and what a million orders cost.
//
// Every number the model starts from says where it comes from: an AWS
// quota or pricing page (Source), a figure `make bench` measures, or an
// assumption to be replaced by a measurement on a real account
// (`threefactor load`). The model is arithmetic, not a discrete-event
// simulation: a stage with service time S at utilization ρ takes S/(1-ρ)
// (one queue), a quota is a rate, and a pool of concurrency is Little's law.
// docs/scale.md walks through it; the benchmarks print its predictions next
// to what the same run measured.
package capacity
