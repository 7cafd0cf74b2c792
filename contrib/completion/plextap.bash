# bash completion for plextap: subcommands, their flags and the values flags take.
# Installed as share/bash-completion/completions/plextap. Kept in step with
# `plextap SUBCOMMAND --help` by a test (tests/contrib/check_contrib.py).

_plextap_flags() {
	case "$1" in
	serve | check)
		echo "--listen --upstream --data --admin --admin-token --record --tls-cert --tls-key
			--tls-p12 --tls-p12-password --upstream-ca --upstream-sni --upstream-insecure
			--plex-token --no-enrich --no-server-watch --access-log --access-log-format
			--log-format --retention --exchange-retention --sink --threads
			--body-cap --queue --queue-bytes --store-max-size --header-timeout --body-timeout
			--keepalive-timeout --upstream-timeout --connect-timeout --upstream-idle-timeout
			--upstream-max-connections --enrich-timeout --drain-timeout --help" ;;
	export)
		echo "--data --format --since --until --client --output --follow --schema --no-media
			--columns --help" ;;
	stats) echo "--data --format --help" ;;
	enrich)
		echo "--data --upstream --upstream-ca --upstream-sni --upstream-insecure --plex-token
			--ttl --timeout --concurrency --refresh --help" ;;
	report) echo "--data --since --until --user --format --output --help" ;;
	prune) echo "--before --exchanges-only --data --help" ;;
	backup) echo "--data --help" ;;
	sink) echo "--data --since --server-id --init --once --batch --help" ;;
	"replay serve")
		echo "--data --har --since --until --listen --admin --ignore-param --tls-cert --tls-key
			--tls-p12 --tls-p12-password --access-log --log-format --threads --help" ;;
	"replay send")
		echo "--data --har --since --until --target --token --speed --kind --concurrency --report
			--fail-on-diff --target-ca --insecure --timeout --help" ;;
	"certs init") echo "--host --out --help" ;;
	"certs show") echo "--password --data --help" ;;
	esac
}

_plextap() {
	local cur prev cmd="" i word
	COMPREPLY=()
	cur="${COMP_WORDS[COMP_CWORD]}"
	prev="${COMP_WORDS[COMP_CWORD-1]}"

	# The subcommand (and its own subcommand) named so far.
	for ((i = 1; i < COMP_CWORD; i++)); do
		word="${COMP_WORDS[i]}"
		case "$word" in
		-*) ;;
		serve | export | stats | enrich | report | replay | certs)
			[ -z "$cmd" ] && cmd="$word" ;;
		send | init | show)
			case "$cmd" in replay | certs) cmd="$cmd $word" ;; esac ;;
		esac
	done

	# Values of flags that take one.
	case "$prev" in
	--data | --out | --har) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--config | --tls-cert | --tls-key | --tls-p12 | --upstream-ca | --target-ca | --access-log | --output | --report)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--record) COMPREPLY=($(compgen -W "tapped all none" -- "$cur")); return ;;
	--log-format)
		if [ "$cmd" = serve ]; then
			COMPREPLY=($(compgen -W "text json journal" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "text json" -- "$cur"))
		fi
		return ;;
	--format)
		case "$cmd" in
		export) COMPREPLY=($(compgen -W "jsonl csv" -- "$cur")) ;;
		stats) COMPREPLY=($(compgen -W "text json" -- "$cur")) ;;
		report) COMPREPLY=($(compgen -W "text json html" -- "$cur")) ;;
		esac
		return ;;
	--speed) COMPREPLY=($(compgen -W "1 2 10 max" -- "$cur")); return ;;
	esac

	case "$cmd" in
	"")
		COMPREPLY=($(compgen -W "serve check export stats enrich replay certs report prune backup sink help --config --version --help" -- "$cur")) ;;
	help) COMPREPLY=($(compgen -W "serve check export stats enrich replay certs report prune backup sink" -- "$cur")) ;;
	sink) COMPREPLY=($(compgen -W "$(_plextap_flags sink)" -- "$cur")) ;;
	backup)
		if [[ "$cur" == -* ]]; then
			COMPREPLY=($(compgen -W "$(_plextap_flags backup)" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi ;;
	replay) COMPREPLY=($(compgen -W "serve send --help" -- "$cur")) ;;
	certs) COMPREPLY=($(compgen -W "init show --help" -- "$cur")) ;;
	export)
		if [[ "$cur" == -* ]]; then
			COMPREPLY=($(compgen -W "$(_plextap_flags export)" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "events timeline scrobbles ratings queues decisions transcodes
				searches other notifications sessions resources plays runs queue_outcomes clients
				media har" -- "$cur"))
		fi ;;
	"certs show")
		if [[ "$cur" == -* ]]; then
			COMPREPLY=($(compgen -W "$(_plextap_flags "$cmd")" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi ;;
	*) COMPREPLY=($(compgen -W "$(_plextap_flags "$cmd")" -- "$cur")) ;;
	esac
}

complete -F _plextap plextap
