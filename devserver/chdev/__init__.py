"""The devserver's parts, one module per concern.

errors       ClickHouse error codes, texts and HTTP statuses
compression  native compressed blocks and HTTP Content-Encoding
formats      output formats: streaming block by block, Content-Type, Native block info
request      what an HTTP request asks for (URL, headers, multipart body)
engine       chDB connections, sessions and running one request
faults       failures injected on request for reliability tests
"""
