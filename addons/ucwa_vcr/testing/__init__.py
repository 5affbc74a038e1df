"""Tools for trying and testing UCWA clients without a server: the fake UCWA origin (scripts/fake-ucwa)."""
