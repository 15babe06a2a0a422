"""The devserver's parts, one module per concern.

connection   how long a connection may idle and send its request's head
body         a request's body as a stream: framing, decoding, limits
request      what an HTTP request asks for (URL, headers, multipart body)
sandbox      what SQL may reach beyond the engine's data (files, network)
engine       chDB connections, sessions and running one request
answer       one HTTP answer, written the way ClickHouse writes it
errors       ClickHouse error codes, texts and HTTP statuses
compression  native compressed blocks and HTTP Content-Encoding
formats      output formats: streaming block by block, Content-Type, Native block info
faults       failures injected on request for reliability tests
"""
