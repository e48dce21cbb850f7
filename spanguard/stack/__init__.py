"""`spanguard stack up`: the local stack (Phoenix, sidecar, chat service) as child processes.

`local` assembles the services, `ports` derives their configs, `supervisor` runs them,
`demo` plays the README's scripted conversation.
"""
