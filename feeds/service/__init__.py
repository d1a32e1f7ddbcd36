"""The only threads, locks and forks: the runtime and its roles, the scheduler, WebSub, publishing."""
