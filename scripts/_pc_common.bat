@echo off
rem Called by start.bat, stop.bat and connect_oci.bat (not run on its own), with KRXA_VERB (the
rem `krx pc` verb) and KRXA_WHAT (what failed) set: find the repository's Python (an active
rem virtual environment, else ROOT\.venv) and run `krx pc VERB` with pc.env from the repository
rem root when it exists (docs\pc-install.md). Exits with the launcher's code: 0 only when it
rem said "running" (start waits for every health check and the OCI token), else not 0.
chcp 65001 >nul
set "ROOT=%~dp0.."
set "PY="
if defined VIRTUAL_ENV if exist "%VIRTUAL_ENV%\Scripts\python.exe" set "PY=%VIRTUAL_ENV%\Scripts\python.exe"
if not defined PY if exist "%ROOT%\.venv\Scripts\python.exe" set "PY=%ROOT%\.venv\Scripts\python.exe"
if not defined PY goto :novenv
cd /d "%ROOT%"
set "ENVARGS="
if exist "%ROOT%\pc.env" set ENVARGS=--env-file "%ROOT%\pc.env"
"%PY%" -m krx_cli.main pc %KRXA_VERB% %ENVARGS% %*
set "RC=%errorlevel%"
if "%RC%"=="0" exit /b 0
echo.
echo KRX Alertor: %KRXA_WHAT% (exit %RC%). See the message above and docs\pc-install.md.
pause
exit /b %RC%

:novenv
rem Run python to be sure: `where python` also finds the Microsoft Store alias
rem (%LOCALAPPDATA%\Microsoft\WindowsApps\python.exe), which is there without any Python and
rem only offers to install one (exit code 9009).
python -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 3)" >nul 2>nul
set "RC=%errorlevel%"
if "%RC%"=="0" goto :makevenv
if "%RC%"=="3" goto :oldpython
where python 2>nul | findstr /i /l /c:"WindowsApps" >nul
if not errorlevel 1 goto :storealias
goto :nopython

:makevenv
echo The virtual environment "%ROOT%\.venv" is missing. Create it once:
echo     cd /d "%ROOT%"
echo     python -m venv .venv
echo     .venv\Scripts\python -m pip install -e .
goto :failed

:oldpython
echo The python on PATH is older than 3.11. Install Python 3.11 or newer from
echo https://www.python.org/downloads/ (tick "Add python.exe to PATH"), then create the
echo virtual environment (docs\pc-install.md).
goto :failed

:storealias
echo Python is not installed: the "python" on PATH is the Microsoft Store alias
echo (WindowsApps), not a Python. Install Python 3.11 or newer from
echo https://www.python.org/downloads/ (tick "Add python.exe to PATH"), or turn the alias off
echo in Settings, Apps, Advanced app settings, App execution aliases; then create the
echo virtual environment (docs\pc-install.md).
goto :failed

:nopython
echo Python was not found. Install Python 3.11 or newer from https://www.python.org/downloads/
echo (tick "Add python.exe to PATH"), then create the virtual environment (docs\pc-install.md).
goto :failed

:failed
echo.
echo KRX Alertor: %KRXA_WHAT%. See the message above and docs\pc-install.md.
pause
exit /b 1
