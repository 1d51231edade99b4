"""The evidence for the benchmark's claim: studies that train models on original and perturbed
data and the statistics that test the outcome."""
