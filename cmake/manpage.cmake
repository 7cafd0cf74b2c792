# Writes plextap.1 from the built binary's own --help texts, so the manual says exactly what
# the command line does: `plextap --help`, then `plextap SUB --help` for every subcommand the
# top help lists (and their subcommands, one level down), each as a section.
#
# cmake -DBINARY=…/plextap -DOUTPUT=…/plextap.1 -DVERSION=0.14.0 -DSYSCONFDIR=/etc -P manpage.cmake

# Roff for one line of help text: backslashes and dashes escaped, no line read as a request.
function(roff_text text out)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  if(text MATCHES "^[.']")
    set(text "\\&${text}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# `plextap ARGS --help` as roff, and the subcommands it lists in `subcommands_out`.
function(help_page args out subcommands_out)
  execute_process(COMMAND "${BINARY}" ${args} --help OUTPUT_VARIABLE help RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "${BINARY} ${args} --help failed: ${failed}")
  endif()
  # Lines as a list: semicolons in the text are kept aside first.
  string(REPLACE ";" "@SEMICOLON@" help "${help}")
  string(REPLACE "\n" ";" lines "${help}")
  set(roff "")
  set(section "")
  set(subcommands "")
  foreach(line IN LISTS lines)
    string(REPLACE "@SEMICOLON@" ";" line "${line}")
    if(line STREQUAL "")
      continue()
    elseif(line MATCHES "^([A-Z][A-Za-z ]*):$")
      set(section "${CMAKE_MATCH_1}")
      roff_text("${section}" heading)
      string(APPEND roff ".PP\n.B ${heading}\n")
    elseif(line MATCHES "^Usage: (.*)$")
      roff_text("${CMAKE_MATCH_1}" usage)
      string(APPEND roff ".PP\n.B ${usage}\n")
    elseif(line MATCHES "^    +(.*)$")  # the description under a long item
      roff_text("${CMAKE_MATCH_1}" text)
      string(APPEND roff "${text}\n")
    elseif(line MATCHES "^  ([^ ]+( [^ ]+)*)(  +(.*))?$")  # an option, positional or subcommand
      set(item "${CMAKE_MATCH_1}")
      set(text "${CMAKE_MATCH_4}")
      if(section STREQUAL "Subcommands")
        list(APPEND subcommands "${item}")
      endif()
      roff_text("${item}" item)
      roff_text("${text}" text)
      string(APPEND roff ".TP\n.B ${item}\n")
      if(NOT text STREQUAL "")
        string(APPEND roff "${text}\n")
      endif()
    else()
      roff_text("${line}" text)
      string(APPEND roff ".PP\n${text}\n")
    endif()
  endforeach()
  set(${out} "${roff}" PARENT_SCOPE)
  set(${subcommands_out} "${subcommands}" PARENT_SCOPE)
endfunction()

help_page("" top top_subcommands)
set(page ".TH PLEXTAP 1 \"\" \"plextap ${VERSION}\" \"User Commands\"
.SH NAME
plextap \\- a TLS\\-terminating reverse proxy and traffic recorder for Plex Media Server
.SH SYNOPSIS
.B plextap
[\\fB\\-\\-config\\fR \\fIFILE\\fR] \\fISUBCOMMAND\\fR [\\fIOPTIONS\\fR]
.SH DESCRIPTION
${top}.PP
Every flag can also be set through the environment as \\fBPLEXTAP_\\fIFLAG\\fR (dashes become
underscores; the token also as \\fBPLEX_TOKEN\\fR) or in the TOML file given with
\\fB\\-\\-config\\fR, in a table per subcommand (\\fB[serve]\\fR, \\fB[export]\\fR, ...).
The command line wins over the environment, which wins over the file.
Exit codes: 0 success, 1 runtime failure, 2 bad usage.
")
foreach(sub IN LISTS top_subcommands)
  help_page("${sub}" text nested)
  string(APPEND page ".SH \"plextap ${sub}\"\n${text}")
  foreach(nested_sub IN LISTS nested)
    help_page("${sub};${nested_sub}" text ignored)
    string(APPEND page ".SH \"plextap ${sub} ${nested_sub}\"\n${text}")
  endforeach()
endforeach()
string(APPEND page ".SH FILES
.TP
.B ${SYSCONFDIR}/plextap/plextap.toml
the settings of plextap.service, every key of \\fBserve\\fR commented with its default
.TP
.B ${SYSCONFDIR}/plextap/env
PLEX_TOKEN=... for the service, read by systemd (mode 0600)
.TP
.B /var/lib/plextap
the service's data directory: store, installation secret, generated certificates
.SH SIGNALS
SIGTERM and SIGINT drain: no new connections, requests in flight finish
(\\fB\\-\\-drain\\-timeout\\fR). SIGHUP reads the certificate files again.
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1)
")
file(WRITE "${OUTPUT}" "${page}")
