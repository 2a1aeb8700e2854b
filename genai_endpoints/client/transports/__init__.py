"""One transport per backend kind; ``build`` turns a resolved target into one."""
