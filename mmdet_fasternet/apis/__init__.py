"""What the tools run: each tool is argparse plus one call in here."""
