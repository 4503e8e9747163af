# The V8 flags every timed wasm run of the bench takes (sourced by bench/smoke.sh and
# bench/wasm-ratio.sh; docs/bench.md, "Running it"):
# - --no-liftoff --no-wasm-lazy-compilation: the whole module is compiled by the
#   optimizing compiler before main runs. By default V8 starts every function in its
#   baseline compiler and optimizes hot ones later, so a short run would time
#   unoptimized code for its first seconds.
# - --no-turbo-use-mid-tier-regalloc-for-huge-functions: huge functions (SQLite's
#   bytecode loop, sqlite3VdbeExec, is one) get the optimizing compiler's full register
#   allocator instead of its faster, weaker one: SQLite's scans ran about 12 % faster,
#   at no cost in start-up time measured.
# A browser takes no flags: the playground runs with V8's defaults.
v8_flags=(--no-liftoff --no-wasm-lazy-compilation --no-turbo-use-mid-tier-regalloc-for-huge-functions)
