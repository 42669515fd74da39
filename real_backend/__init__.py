"""The real backend: protocol effects interpreted as SQL against Snowflake or an embedded
fakesnow server, on the wall clock, with worker OS processes.

  identifiers   strict checks for names spliced into SQL
  sql           the SQL text of every statement effect, DDL, result shaping
  connection    opening connector connections (embedded / snowflake), tags, redaction
  embedded_server(_main)  the fakesnow server process and its launcher
  clock         the run clock shared by all processes of a run
  driver        RealDriver: the effect interpreter and trace writer
  processes, worker_main  worker processes and their entry point
  live          one live run: set-up, the run, every way out (deadline, Ctrl-C/SIGTERM/SIGHUP,
                a lost server), clean-up
  watchdog      a process that cleans up after a live run whose owner was SIGKILLed
  history       Snowflake's own per-tag counts, labelled sampled / lagging / unavailable
  toy_actors    tiny actors for tests and demos
"""
