"""Proved before rented: compile a run's programs for real TPU topologies from any host (libtpu AOT).

`omni.plan.compile.plan(cfg, topology, devices)` lowers and compiles the train, eval and decode steps (and
the tokenizers' steps) for a slice's devices and reports memory per device, fit in HBM, FLOPs and the
implied step time; `launch/plan.py` is its command line.
"""
