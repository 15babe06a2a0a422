"""The devserver's parts, one module per concern.

connection   how long a connection may idle and send its request's head
body         a request's body as a stream: framing, decoding, limits
request      what an HTTP request asks for (URL, headers, multipart body)
sql          SQL as ClickHouse's lexer reads it; a statement's class and settings
sandbox      what SQL may reach beyond the engine's data (files, network)
checks       what every engine checks of a request before running it
engine       which engine runs: chdb-core 26.x, or an older chDB
connections  chdb-core: a connection per request, named sessions
run          one statement on a chdb-core connection, streamed
shared       older chDB (23.10, 24.8, 25.8): one shared session, scripts
answer       one HTTP answer, written the way ClickHouse writes it
errors       ClickHouse error codes, texts and HTTP statuses
compression  native compressed blocks and HTTP Content-Encoding
formats      output formats: streaming block by block, Content-Type, Native block info
faults       failures injected on request for reliability tests
"""
