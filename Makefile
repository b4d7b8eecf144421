.PHONY: demo test lint setup
setup:
	bash scripts/setup_env.sh
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
lint: setup
	.venv/bin/ruff check .
